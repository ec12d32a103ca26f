import type { MockArea } from "./context.js";

/** Mock-cloud entries for the network resources (see context.ts). */
export const network: MockArea = {
  replaceOn: {},
  computed: {},
};
