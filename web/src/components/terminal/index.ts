export { Terminal, type TerminalTestHandle } from "./terminal";
