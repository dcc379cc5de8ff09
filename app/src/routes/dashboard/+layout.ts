// The dashboard is a client-rendered app behind the session cookie (the layout's server load decides who is
// signed in); pages whose forms must work without JavaScript (Security Center) turn server rendering on.
export const ssr = false;
