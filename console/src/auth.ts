// Sign-in state. The credential (an API key or an OIDC access token) lives in sessionStorage only:
// it goes with the tab, is never sent by the browser on its own (no cookie) and never outlives the
// browser session (no localStorage).

const CREDENTIAL_KEY = "saas-bridge.credential";

type Listener = () => void;
const listeners = new Set<Listener>();

/** A message for the sign-in page, e.g. why the user was sent back there. In memory: shown once. */
let notice: string | null = null;

export function getCredential(): string | null {
  return sessionStorage.getItem(CREDENTIAL_KEY);
}

export function signIn(credential: string): void {
  sessionStorage.setItem(CREDENTIAL_KEY, credential);
  notice = null;
  emit();
}

/** Sign out: forget the credential and any sign-in flow in progress, then show the sign-in page. */
export function signOut(reason?: string): void {
  sessionStorage.clear();
  notice = reason ?? null;
  emit();
}

/** Called once by the sign-in page: the message is not repeated on the next visit. */
export function takeNotice(): string | null {
  const message = notice;
  notice = null;
  return message;
}

export function onAuthChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit(): void {
  for (const listener of listeners) listener();
}
