using System.CommandLine;
using System.Text.Json;

namespace Xapi.Cqrs.Cli;

internal static class Program
{
    public const string DefaultServer = "http://127.0.0.1:5080";

    /// <summary>The root's --help text: what xapi is, how objects are named, and the exit codes.</summary>
    public static string Description =>
        "xapi: the command line of the Xapi.Cqrs VM lifecycle service" + Environment.NewLine +
        "Objects are named by uuid or by name label. Shell completion: see 'xapi completion --help'." + Environment.NewLine +
        Environment.NewLine + "Exit codes:" + Environment.NewLine +
        string.Join(Environment.NewLine, ExitCodes.Table.Select(e => $"  {e.Code,3}  {e.Meaning}"));

    public static Task<int> Main(string[] args) => RunAsync(args, CliIo.Process());

    public static async Task<int> RunAsync(string[] args, CliIo io, CancellationToken ct = default)
    {
        var parse = Build(io).Parse(args);
        if (parse.Errors.Count > 0 && !IsSuggest(args))
        {
            foreach (var error in parse.Errors)
            {
                io.Error.WriteLine($"error: {error.Message}");
            }
            io.Error.WriteLine("run 'xapi --help' for usage");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync(new InvocationConfiguration { Output = io.Out, Error = io.Error }, ct);
    }

    /// <summary>The shell asks for completions ("[suggest:N]" directive): a half-typed line is expected to have errors.</summary>
    private static bool IsSuggest(string[] args) => args.Length > 0 && args[0].StartsWith("[suggest", StringComparison.Ordinal);

    public static RootCommand Build(CliIo io)
    {
        var tree = new CommandTree(io);
        VmVerbs.Add(tree);
        DeviceVerbs.Add(tree);
        HistoryVerbs.Add(tree);
        PoolVerbs.Add(tree);
        ProjectionVerbs.Add(tree);
        EventVerbs.Add(tree);
        Completions.Add(tree);
        return tree.Root;
    }

    public static JsonElement AsObject(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object ? e : throw new JsonException($"expected a JSON object, got {e.ValueKind}");
}
