/**
 * A subagent's result contract: a JSON Schema (2020-12), checked with @cfworker/json-schema,
 * which interprets schemas instead of compiling them to code (Workers allow no eval or
 * new Function). The library trusts its schema, so a schema is first walked for the
 * mistakes that would make it throw or silently accept anything.
 */
import { type Schema, Validator } from "@cfworker/json-schema";
import type { Json } from "../../schemas/common";

const TYPES = new Set(["null", "boolean", "object", "array", "number", "integer", "string"]);
const SCHEMA_MAPS = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"];
const SCHEMA_LISTS = ["allOf", "anyOf", "oneOf", "prefixItems"];
const SCHEMAS = ["items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames", "unevaluatedItems", "unevaluatedProperties"];

export interface SchemaProblem {
	path: string;
	message: string;
}

/** What is wrong with the schema itself, as paths into it; empty when it can be used. */
export function schemaProblems(schema: Json, path = "", root: Json = schema): SchemaProblem[] {
	if (typeof schema === "boolean") return [];
	if (schema === null || typeof schema !== "object" || Array.isArray(schema)) return [{ path: path || "/", message: "a schema is an object or a boolean" }];
	const node = schema as Record<string, Json>;
	const problems: SchemaProblem[] = [];
	const type = node.type;
	if (type !== undefined && !(typeof type === "string" ? TYPES.has(type) : Array.isArray(type) && type.every((entry) => typeof entry === "string" && TYPES.has(entry)))) {
		problems.push({ path: `${path}/type`, message: `type is one of ${[...TYPES].join(", ")}, or a list of them` });
	}
	if (node.required !== undefined && !(Array.isArray(node.required) && node.required.every((entry) => typeof entry === "string"))) {
		problems.push({ path: `${path}/required`, message: "required is a list of property names" });
	}
	if (node.$ref !== undefined && !(typeof node.$ref === "string" && resolves(root, node.$ref))) {
		problems.push({ path: `${path}/$ref`, message: "a reference must point into this schema (# or #/...) at something that exists" });
	}
	// The validator compiles patterns only when a value reaches them: a bad one must fail here, not on a result.
	const patterns = [
		...(node.pattern === undefined ? [] : [{ at: `${path}/pattern`, pattern: node.pattern }]),
		...(node.patternProperties && typeof node.patternProperties === "object" && !Array.isArray(node.patternProperties)
			? Object.keys(node.patternProperties).map((pattern) => ({ at: `${path}/patternProperties/${pattern}`, pattern: pattern as Json }))
			: []),
	];
	for (const { at, pattern } of patterns) if (!compiles(pattern)) problems.push({ path: at, message: "not a valid regular expression" });
	for (const keyword of SCHEMA_MAPS) {
		const map = node[keyword];
		if (map === undefined) continue;
		if (map === null || typeof map !== "object" || Array.isArray(map)) problems.push({ path: `${path}/${keyword}`, message: `${keyword} maps names to schemas` });
		else for (const [name, sub] of Object.entries(map as Record<string, Json>)) problems.push(...schemaProblems(sub, `${path}/${keyword}/${name}`, root));
	}
	for (const keyword of SCHEMA_LISTS) {
		const list = node[keyword];
		if (list === undefined) continue;
		if (!Array.isArray(list)) problems.push({ path: `${path}/${keyword}`, message: `${keyword} is a list of schemas` });
		else list.forEach((sub, index) => problems.push(...schemaProblems(sub as Json, `${path}/${keyword}/${index}`, root)));
	}
	for (const keyword of SCHEMAS) if (node[keyword] !== undefined) problems.push(...schemaProblems(node[keyword], `${path}/${keyword}`, root));
	if (problems.length === 0 && path === "") {
		try {
			new Validator(node as Schema, "2020-12").validate(null);
		} catch (error) {
			problems.push({ path: "/", message: error instanceof Error ? error.message : String(error) });
		}
	}
	return problems;
}

function compiles(pattern: Json): boolean {
	if (typeof pattern !== "string") return false;
	try {
		new RegExp(pattern, "u");
		return true;
	} catch {
		return false;
	}
}

/** Whether a local reference (`#` or a JSON pointer `#/a/b`) names something in the schema. */
function resolves(root: Json, ref: string): boolean {
	if (ref === "#") return true;
	if (!ref.startsWith("#/")) return false;
	let node: Json | undefined = root;
	for (const token of ref.slice(2).split("/")) {
		const key = decodeURIComponent(token).replaceAll("~1", "/").replaceAll("~0", "~");
		if (node === null || typeof node !== "object") return false;
		node = (node as Record<string, Json>)[key];
		if (node === undefined) return false;
	}
	return true;
}

/** Where the value breaks the schema, as JSON pointers into the value; empty when it conforms. */
export function resultProblems(schema: Json, value: Json): Array<{ path: string; keyword: string; message: string }> {
	let outcome: ReturnType<Validator["validate"]>;
	try {
		outcome = new Validator(schema as Schema, "2020-12", false).validate(value);
	} catch (error) {
		// The schema was checked when the subagent started; whatever still throws is reported, never a 500.
		return [{ path: "/", keyword: "schema", message: error instanceof Error ? error.message : String(error) }];
	}
	const seen = new Set<string>();
	const problems: Array<{ path: string; keyword: string; message: string }> = [];
	for (const error of outcome.errors) {
		const problem = { path: error.instanceLocation.replace(/^#/, "") || "/", keyword: error.keyword, message: error.error };
		const id = `${problem.path} ${problem.keyword} ${problem.message}`;
		if (seen.has(id)) continue;
		seen.add(id);
		problems.push(problem);
	}
	return problems.slice(0, 50);
}
