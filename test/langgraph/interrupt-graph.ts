/**
 * A small StateGraph, run as its own process by crash-resume.test.ts:
 *   plan → work → review (interrupt() asks for approval) → finish
 * `node interrupt-graph.ts <url> <key> <thread> start|continue|resume:<answer>`. With
 * HANG_IN_WORK set to a file path, `work` creates that file and hangs (the test SIGKILLs the
 * process there). Prints the graph's result as one JSON line.
 */
import { writeFileSync } from "node:fs";
import { Annotation, Command, END, interrupt, START, StateGraph } from "@langchain/langgraph";
import { EdgeContextSaver } from "../../sdk/src/langgraph";

const [url, apiKey, threadId, action] = process.argv.slice(2);

const State = Annotation.Root({
	steps: Annotation<string[]>({ reducer: (left, right) => left.concat(right), default: () => [] }),
});

const graph = new StateGraph(State)
	.addNode("plan", () => ({ steps: [`plan@${process.pid}`] }))
	.addNode("work", async () => {
		const hang = process.env.HANG_IN_WORK;
		if (hang) {
			writeFileSync(hang, String(process.pid));
			await new Promise(() => {});
		}
		return { steps: ["work"] };
	})
	.addNode("review", () => ({ steps: [`review:${interrupt("approve the work?") as string}`] }))
	.addNode("finish", () => ({ steps: ["finish"] }))
	.addEdge(START, "plan")
	.addEdge("plan", "work")
	.addEdge("work", "review")
	.addEdge("review", "finish")
	.addEdge("finish", END)
	.compile({ checkpointer: new EdgeContextSaver({ baseUrl: url, apiKey }) });

// "sync": each step's checkpoint is stored before the next step starts (the default, "async",
// overlaps them, so a kill can lose the step before the one it interrupts).
const config = { configurable: { thread_id: threadId }, durability: "sync" as const };
const input = action === "start" ? { steps: [] } : action === "continue" ? null : new Command({ resume: action.slice("resume:".length) });
// Input, nothing (continue from the last checkpoint) or a resume: invoke takes each.
const result = (await graph.invoke(input as never, config)) as { steps: string[]; __interrupt__?: Array<{ value: unknown }> };
console.log(JSON.stringify({ steps: result.steps, interrupted: (result.__interrupt__ ?? []).map((entry) => entry.value) }));
