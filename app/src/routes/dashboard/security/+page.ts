// Rendered on the server: its forms (2FA, devices, API keys) post to form actions and work without JavaScript.
export const ssr = true;
