/**
 * The CIBA `binding_message` (OpenID CIBA Core §7.1) rule shared by the agent, which derives the
 * message from the order (lib/agent/binding-message.ts), and the embedded identity server, which
 * checks what clients send (lib/idp/binding-message.ts). The set every identity server the app
 * supports accepts (Auth0 is the strictest): at most 64 characters of letters, digits, space and
 * `+-_.,:#`. That set also keeps the message inert in HTML, mail headers and logs.
 */
export const BINDING_MESSAGE_MAX_LENGTH = 64;

/** `/^[A-Za-z0-9 +\-_.,:#]{1,64}$/` */
export const BINDING_MESSAGE_PATTERN = new RegExp(`^[A-Za-z0-9 +\\-_.,:#]{1,${BINDING_MESSAGE_MAX_LENGTH}}$`);
