/** Reading the served OpenAPI document in tests: `$ref`s followed as a client would. */
export type Json = Record<string, any>;

/** `node`, or what its `#/…` reference points to in `doc` (followed until it is no reference). */
export function deref(doc: Json, node: Json): Json {
  if (typeof node?.$ref !== "string") return node;
  const target = (node.$ref as string)
    .slice(2)
    .split("/")
    .reduce((at: Json, key: string) => at[key.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
  return deref(doc, target);
}
