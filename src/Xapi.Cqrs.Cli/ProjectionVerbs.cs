using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Xapi.Cqrs.Cli;

/// <summary>Read models: how far each has come, and rebuilding them (blue/green on the server; reads keep answering).</summary>
internal static class ProjectionVerbs
{
    public static void Add(CommandTree t)
    {
        var projections = t.Group("projections", "The service's read models (projections): list them, rebuild them");
        t.Define("list", "Every projection: kind (inline or async), version, status, position, high-water mark and lag", [], async (_, s, ct) =>
            s.Print(await s.Client.GetAsync<List<Projection>>("api/admin/projections", ct), list => Rendering.Projections(s.Console, list)), projections);

        var name = new Argument<string?>("name") { Description = "The projection to rebuild (see 'xapi projections list'); none = every projection in turn", Arity = ArgumentArity.ZeroOrOne };
        name.CompletionSources.Add(context => Completions.ProjectionNames(t, context.ParseResult));
        t.Define("rebuild", "Rebuild a projection (or every one) with a live progress bar, then its counts and rate", [name], async (r, s, ct) =>
        {
            var names = r.GetValue(name) is { } one
                ? [one]
                : (await s.Client.GetAsync<List<Projection>>("api/admin/projections", ct)).Value.Select(p => p.Name).ToList();
            var results = new List<(string Name, string TaskId, RebuildResult? Counts, string? Raw)>();
            foreach (var projection in names)
            {
                var accepted = await s.Client.PostAcceptedAsync($"api/admin/projections/{Uri.EscapeDataString(projection)}/rebuild", null, ct);
                var task = await TaskWatch.UntilDoneAsync(s, accepted.Value.TaskId, $"rebuild {projection}", ct);
                var counts = ParseResult(task.Result);
                results.Add((projection, task.Id, counts, task.Result));
                if (!s.Json)
                {
                    Rendering.Line(s.Console, Rendering.Rebuilt(projection, counts));
                }
            }
            if (s.Json)
            {
                s.Out.WriteLine(JsonSerializer.Serialize(results.Select(x => new { name = x.Name, taskId = x.TaskId, result = x.Counts }), XapiClient.Json));
            }
            else if (results.Count > 1)
            {
                var events = results.Sum(x => x.Counts?.Events ?? 0);
                var documents = results.Sum(x => x.Counts?.Documents ?? 0);
                var seconds = results.Sum(x => x.Counts?.Seconds ?? 0);
                Rendering.Line(s.Console, Rendering.Rebuilt($"all {results.Count} projections", new RebuildResult(documents, events, seconds)));
            }
        }, projections);
    }

    /// <summary>A rebuild task's result on success: the JSON string {"documents":N,"events":N,"seconds":x}; null if it says something else.</summary>
    internal static RebuildResult? ParseResult(string? result)
    {
        if (string.IsNullOrWhiteSpace(result))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<RebuildResult>(result, XapiClient.Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
