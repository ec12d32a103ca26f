import { describe, expect, test } from "vitest";
import { hasRole, ROLES, type Role } from "../../src/auth/roles.js";

/** The whole relation, written out: a row is the principal's role, the columns what it may do. */
const EXPECTED: Record<Role, readonly Role[]> = {
  viewer: ["viewer"],
  operator: ["viewer", "operator"],
  approver: ["viewer", "operator", "approver"],
  admin: ["viewer", "operator", "approver", "admin", "auditor"],
  auditor: ["auditor"],
};

describe("roles", () => {
  test.each(ROLES.flatMap((held) => ROLES.map((required) => [held, required] as const)))("%s holds %s?", (held, required) => {
    expect(hasRole(held, required)).toBe(EXPECTED[held].includes(required));
  });

  test("viewer < operator < approver < admin is a linear order", () => {
    const linear: Role[] = ["viewer", "operator", "approver", "admin"];
    linear.forEach((held, i) => linear.forEach((required, j) => expect(hasRole(held, required)).toBe(j <= i)));
  });

  test("auditor reads the audit trail only: it holds no other role, and only admin holds it", () => {
    expect(ROLES.filter((r) => r !== "auditor").some((r) => hasRole("auditor", r))).toBe(false);
    expect(ROLES.filter((r) => hasRole(r, "auditor"))).toEqual(["admin", "auditor"]);
  });
});
