// The local Outreach validates a PATCH with the very rules the Worker uses: one attribute list serves both.
export { attributeValueProblem, isWritableAttribute, prospectAttributes } from "../src/outreach/attributes.ts";
