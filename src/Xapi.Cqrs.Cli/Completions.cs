using System.CommandLine;
using System.CommandLine.Completions;
using System.Text.Json;

namespace Xapi.Cqrs.Cli;

/// <summary>
/// Shell completion. System.CommandLine answers its <c>[suggest:position] "command line"</c> directive with the
/// verbs, options and values that fit there; <c>xapi completion bash</c> prints the bash glue that asks it.
/// Names of VMs, hosts, VDIs, networks and projections come from the server (same --server/--token/environment),
/// quickly or not at all.
/// </summary>
internal static class Completions
{
    private static readonly TimeSpan AskWithin = TimeSpan.FromSeconds(2);

    public const string Bash = """
        # bash completion for xapi (System.CommandLine's [suggest] directive).
        # Enable it for this shell:   source <(xapi completion bash)
        # or for every shell:         xapi completion bash > ~/.local/share/bash-completion/completions/xapi
        _xapi_complete() {
            local line="${COMP_LINE:0:$COMP_POINT}"
            line="xapi${line#"${COMP_WORDS[0]}"}"   # however xapi was called (a path, say), the directive wants "xapi …"
            local IFS=$'\n'
            COMPREPLY=($(command "${COMP_WORDS[0]}" "[suggest:${#line}]" "$line" 2>/dev/null))
        }
        complete -o default -F _xapi_complete xapi
        """;

    public static void Add(CommandTree t)
    {
        var shell = new Argument<string>("shell") { Description = "The shell to print the script for (bash)", DefaultValueFactory = _ => "bash" };
        shell.AcceptOnlyFromAmong("bash");
        var command = new Command("completion", "Print the shell completion script: enable it with  source <(xapi completion bash)") { shell };
        command.SetAction(r =>
        {
            t.Io.Out.WriteLine(Bash);
            return ExitCodes.Ok;
        });
        t.Root.Subcommands.Add(command);
    }

    /// <summary>Name labels of the objects at <paramref name="listPath"/> (api/vms, api/hosts, …); nothing if the server does not answer in time.</summary>
    public static IEnumerable<CompletionItem> NamesFromServer(CommandTree t, ParseResult parse, string listPath) =>
        Ask(t, parse, async (client, ct) =>
        {
            var list = (await client.GetAsync<List<JsonElement>>(listPath, ct)).Value;
            return list.Select(e => e.TryGetProperty("nameLabel", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null)
                .OfType<string>().Where(n => n.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        });

    public static IEnumerable<CompletionItem> ProjectionNames(CommandTree t, ParseResult parse) =>
        Ask(t, parse, async (client, ct) => (await client.GetAsync<List<Projection>>("api/admin/projections", ct)).Value.Select(p => p.Name).ToList());

    private static IEnumerable<CompletionItem> Ask(CommandTree t, ParseResult parse, Func<XapiClient, CancellationToken, Task<List<string>>> ask)
    {
        var serverText = NonEmpty(parse.GetValue(t.Server)) ?? NonEmpty(t.Io.Environment("XAPI_SERVER")) ?? Program.DefaultServer;
        var token = NonEmpty(parse.GetValue(t.Token)) ?? NonEmpty(t.Io.Environment("XAPI_TOKEN"));
        if (token is null || !Uri.TryCreate(serverText.TrimEnd('/') + "/", UriKind.Absolute, out var server))
        {
            return [];
        }
        try
        {
            using var cts = new CancellationTokenSource(AskWithin);
            using var client = new XapiClient(server, token, AskWithin);
            return [.. ask(client, cts.Token).GetAwaiter().GetResult().Select(n => new CompletionItem(n))];
        }
        catch (Exception e) when (e is HttpRequestException or XapiProblemException or JsonException or OperationCanceledException)
        {
            return []; // completion is a convenience: a server that does not answer offers nothing
        }
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
