import type { MockArea } from "./context.js";

/** Mock-cloud entries for the inbound resources (see context.ts). */
export const inbound: MockArea = {
  replaceOn: {},
  computed: {},
};
