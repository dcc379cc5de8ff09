// The dashboard is a client-rendered app behind the session cookie; /api/auth/me decides who is signed in.
export const ssr = false;
