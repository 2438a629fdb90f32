import { buildApp } from "./app";

export { SessionObject } from "./session/session-object";

export default buildApp() satisfies ExportedHandler<Env>;
