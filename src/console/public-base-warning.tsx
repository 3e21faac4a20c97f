import type { FC } from "hono/jsx";
import { PUBLIC_BASE_MISSING, publicBaseMissing } from "../http/public-base";
import { Callout } from "./components";

/** The console's warning that links follow the Host header because PUBLIC_BASE_URL is empty (src/http/public-base.ts). */
export const PublicBaseWarning: FC<{ env: Env }> = ({ env }) =>
	publicBaseMissing(env) ? (
		<Callout tone="warn" title="Set PUBLIC_BASE_URL" testid="public-base-url-missing">
			<p>{PUBLIC_BASE_MISSING}</p>
		</Callout>
	) : null;
