import type { MockArea } from "./context.js";

/** Mock-cloud entries for the hsm resources (see context.ts). */
export const hsm: MockArea = {
  replaceOn: {},
  computed: {},
};
