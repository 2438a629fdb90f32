/**
 * The official checkpointer conformance suite (@langchain/langgraph-checkpoint-validation):
 * validate() (put, putWrites, getTuple, list, deleteThread) and the opt-in delta-channel
 * history tests, against the real Worker. Each saver instance gets its own tenant, since the
 * suite reuses fixed thread ids across instances.
 */
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import type { EdgeContextSaver } from "../../sdk/src/langgraph";
import { freshSaver } from "./helpers";

const initializer = {
	// The suite skips some tests by saver name: ours is its own.
	checkpointerName: "EdgeContextSaver",
	createCheckpointer: (): Promise<EdgeContextSaver> => freshSaver(),
};

validate(initializer);
deltaChannelHistoryTests(initializer);
