/**
 * Reserved state namespaces: those starting with "_" hold the session's own documents
 * (system.ts). The public API cannot name them: state names start with a letter or digit.
 */
export const SYSTEM_NAMESPACE_PREFIX = "_";
/** SQL over a `ns` column: only namespaces the public API can address. */
export const PUBLIC_NAMESPACES = "ns NOT GLOB '_*'";

export function isSystemNamespace(ns: string): boolean {
	return ns.startsWith(SYSTEM_NAMESPACE_PREFIX);
}
