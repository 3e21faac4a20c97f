import type { Context } from "hono";
import type { Principal } from "../auth/principal";
import type { Session } from "../auth/session";
import type { ApiClient } from "../api/client";

/** What the console's guard puts on every signed-in request. */
export type ConsoleEnv = { Bindings: Env; Variables: { session: Session; principal: Principal; csrf: string; client: ApiClient } };
export type ConsoleContext = Context<ConsoleEnv>;
