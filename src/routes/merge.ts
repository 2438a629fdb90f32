import { requires } from "../auth/authorize";
import { createRoute } from "@hono/zod-openapi";
import { SessionParams, WriteHeaders } from "../schemas/common";
import { MergeBody, MergeResult } from "../schemas/merge";
import { mergeFork } from "../operations/merge";
import { bearerSecurity, createRouter, errorResponses, writeJson } from "./router";
import { writeResponse } from "./respond";
import { writeOptions } from "./write-options";

export const mergeRoutes = createRouter();

mergeRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/merge",
		operationId: "mergeFork",
		tags: ["checkpoints"],
		summary: "Merge a fork of this session back into it: a three-way merge of state, and the fork's new events",
		description:
			"Keys the fork changed since the fork point (or since its last merge into this session) are merged against this " +
			"session's: changed on one side, that side's value wins; changed on both to different values, a conflict (a deletion " +
			"counts as a change). With strategy `report` (default) conflicts change nothing and answer 409 merge_conflict with " +
			"`error.details.conflicts` = [{ns, key, base, ours, theirs}] (each side `{value}`, `{valueRef}` or null when the key " +
			"does not exist there); merge again with `resolutions`, or strategy `ours` / `theirs`. The fork's new events are " +
			"appended as one block with `metadata.mergedFrom` and `metadata.mergedSeq`. One write: all or nothing. Merging the " +
			"same fork again merges only what is new since. Needs read on the fork and every namespace.",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: WriteHeaders,
			body: { required: true, content: { "application/json": { schema: MergeBody } } },
		},
		responses: { 200: writeJson(MergeResult, "Merged (or nothing new to merge)"), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const body = c.req.valid("json");
		const result = await mergeFork(c.env, c.var.principal, c.req.valid("param").id, body, writeOptions(c.req.valid("header"), body.expectedVersion));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);
