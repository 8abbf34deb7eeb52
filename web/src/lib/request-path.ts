/** Request header that carries the page's path to server components (layouts cannot read it). */
export const PATH_HEADER = "x-turgon-path";
