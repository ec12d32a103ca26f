import type { FastifySchemaCompiler } from "fastify";
import type { ZodType } from "zod";
import { zodIssuesToFieldErrors } from "../onboarding/spec.js";

/**
 * Validates with zod and reports each issue as a FieldError whose path is an RFC 6901 JSON Pointer, so
 * problem+json names the exact field (`/outbound/allowedSourceCidrs/2`). Fastify puts the array on
 * `error.validation`; problem.ts maps it. Serialization uses fastify-type-provider-zod's compiler.
 */
export const validatorCompiler: FastifySchemaCompiler<ZodType> =
  ({ schema }) =>
  (data) => {
    const result = schema.safeParse(data);
    return result.success ? { value: result.data } : { error: zodIssuesToFieldErrors(result.error.issues) as never };
  };
