import type { MockArea } from "./context.js";

/** Mock-cloud entries for the audit resources (see context.ts). */
export const audit: MockArea = {
  replaceOn: {},
  computed: {},
};
