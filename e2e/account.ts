/**
 * Accounts for the end-to-end suites, made as the dashboard makes them: signup answers "check your inbox"
 * for any address and signs no one in, so the client signs in with the password next. Signed-in writes
 * carry the app's Origin, as a browser on the dashboard does (the edge refuses cookie writes without it).
 */
export async function signUpAndIn(base: string, email: string, password: string, ip = "127.0.0.1"): Promise<{ cookie: string; userId: string }> {
  const headers = { "content-type": "application/json", "cf-connecting-ip": ip };
  const signup = await fetch(`${base}/api/auth/signup`, { method: "POST", headers, body: JSON.stringify({ email, password }) });
  if (signup.status !== 202) throw new Error(`signup: ${signup.status} ${await signup.text()}`);
  const login = await fetch(`${base}/api/auth/login`, { method: "POST", headers, body: JSON.stringify({ email, password }) });
  const body = (await login.json()) as { status?: string; userId: string };
  if (body.status !== "signed_in") throw new Error(`login after signup: ${login.status} ${JSON.stringify(body)}`);
  return { cookie: login.headers.getSetCookie()[0]!.split(";")[0]!, userId: body.userId };
}
