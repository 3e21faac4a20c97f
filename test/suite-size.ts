import { inject } from "vitest";

/**
 * The size of the fault and fuzz suites (vitest.config.ts provides it from FAULTS_FULL, FAULTS_SEED and
 * FUZZ_RUNS): `npm test` runs their short forms, `npm run test:faults` and `npm run test:fuzz` the full ones.
 */
declare module "vitest" {
	export interface ProvidedContext {
		faultsFull: boolean;
		faultsSeed: number;
		fuzzRuns: number;
	}
}

/** True in the full fault run. */
export const faultsFull = (): boolean => inject("faultsFull") ?? false;
/** The seed every randomized fault scenario derives from (FAULTS_SEED; printed on failure). */
export const faultsSeed = (): number => inject("faultsSeed") ?? 20261129;
/** Generated bodies per fuzz property: 1,000 in `npm test`, 10,000 in `npm run test:fuzz`. */
export const fuzzRuns = (): number => inject("fuzzRuns") ?? 1000;
