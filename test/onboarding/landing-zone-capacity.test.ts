import { describe, expect, it } from "vitest";
import { activeRuleCount } from "../../programs/components/suricata.js";
import { LandingZoneSchema } from "../../src/onboarding/landing-zone.js";
import { MAX_ALLOWED_DOMAINS, MAX_OUTBOUND_PORTS } from "../../src/onboarding/spec-fields.js";
import { readExample } from "./spec-fixtures.js";

/**
 * A rule group's capacity is fixed at creation: a landing zone whose capacity is below what a valid spec
 * can need would accept that spec (400-free) and then fail it in the program. The landing zone refuses it.
 */
describe("landing zone: firewall.ruleGroupCapacity", () => {
  const withCapacity = (capacity: number) => {
    const lz = readExample("landing-zone.json");
    lz.firewall.ruleGroupCapacity = capacity;
    return LandingZoneSchema.safeParse(lz);
  };
  const largest = activeRuleCount(MAX_ALLOWED_DOMAINS, MAX_OUTBOUND_PORTS);

  it("accepts the capacity the largest valid spec needs", () => {
    expect(largest).toBeGreaterThan(200);
    expect(withCapacity(largest).success).toBe(true);
  });

  it("refuses less, naming the field", () => {
    const result = withCapacity(largest - 1);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join("."))).toEqual(["firewall.ruleGroupCapacity"]);
  });
});
