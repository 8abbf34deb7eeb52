/** A unified diff, lines coloured by what they do. */
export function DiffView({ diff, testId }: { diff: string; testId?: string }) {
  if (!diff) return <p className="text-sm text-slate-500">No changes.</p>;
  const lines = diff.split("\n").filter((line) => !line.startsWith("====="));
  return (
    <pre
      data-testid={testId}
      className="overflow-x-auto rounded-md bg-slate-950 p-3 font-mono text-xs leading-5 text-slate-200"
    >
      {lines.map((line, i) => {
        const tone =
          line.startsWith("+++") || line.startsWith("---")
            ? "text-slate-400"
            : line.startsWith("+")
              ? "text-emerald-300"
              : line.startsWith("-")
                ? "text-red-300"
                : line.startsWith("@@")
                  ? "text-indigo-300"
                  : "";
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: a diff's lines are positional
          <div key={i} className={tone}>
            {line || " "}
          </div>
        );
      })}
    </pre>
  );
}
