import { buildApp } from "./app";

export { ErasureObject } from "./erasure/coordinator";
export { IndexProjector } from "./projector/index-projector";
export { SessionObject } from "./session/session-object";

export default buildApp() satisfies ExportedHandler<Env>;
