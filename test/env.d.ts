declare module "cloudflare:test" {
	interface ProvidedEnv extends Env {}
}
declare module "vitest" {
	export interface ProvidedContext {
		outreachBase: string;
	}
}
export {};
