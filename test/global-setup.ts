import type { TestProject } from "vitest/node";
import { startLocalOutreach } from "../local-outreach/server.ts";

/** Starts one local Outreach on a free port for the Worker tests; its URL becomes OUTREACH_API_BASE. */
export default async function setup(project: TestProject) {
	const outreach = await startLocalOutreach({ port: 0 });
	project.provide("outreachBase", outreach.url);
	return () => outreach.close();
}

declare module "vitest" {
	export interface ProvidedContext {
		outreachBase: string;
	}
}
