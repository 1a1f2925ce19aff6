using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Xapi.Cqrs.Cli;

/// <summary>
/// The event log as server-sent events (<c>GET /api/events/stream?after=seq</c>): every event as it commits.
/// Without --follow the CLI prints what is there now (up to the store's high-water mark) and stops.
/// </summary>
internal static class EventVerbs
{
    /// <summary>Without --follow: how long to wait for one more event before deciding the log holds no more.</summary>
    internal static TimeSpan QuietEnd = TimeSpan.FromSeconds(3);

    public static void Add(CommandTree t)
    {
        var after = new Option<long>("--after")
        {
            HelpName = "seq",
            Description = "Start after this sequence number (0: from the first event)",
            Validators = { r => { if (r.GetValueOrDefault<long>() < 0) { r.AddError("--after must be 0 or more"); } } },
        };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing events as they commit, until Ctrl+C" };
        t.Define("events", "The event log: one line per event (seq, time, type, stream, actor, correlation id); --json prints one JSON object a line",
            [after, follow], (r, s, ct) => TailAsync(s, r.GetValue(after), r.GetValue(follow), ct));
    }

    private static async Task TailAsync(Session s, long after, bool follow, CancellationToken ct)
    {
        long? end = null;
        if (!follow)
        {
            // What is there now: up to the highest sequence the store has committed (the projections' high-water
            // mark). A server that will not say (an older one, or a role that may not read it) ends on a quiet stream.
            try
            {
                var projections = (await s.Client.GetAsync<List<Projection>>("api/admin/projections", ct)).Value;
                end = projections.Count == 0 ? 0 : projections.Max(p => p.HighWaterMark);
                if (end <= after)
                {
                    return;
                }
            }
            catch (XapiProblemException e) when (e.Problem.Status is 403 or 404)
            {
                end = null;
            }
        }

        var last = after;
        while (true)
        {
            using var response = await s.Client.OpenStreamAsync($"api/events/stream?after={last.ToString(CultureInfo.InvariantCulture)}", "text/event-stream", ct);
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            using var reader = new StreamReader(body, Encoding.UTF8);
            var done = false;
            await foreach (var message in ReadAsync(reader, follow ? null : QuietEnd, ct))
            {
                if (message.Data is not { Length: > 0 } data)
                {
                    continue;
                }
                var e = JsonSerializer.Deserialize<LogEvent>(data, XapiClient.Json) ?? throw new JsonException("an event without data");
                if (e.Seq <= last)
                {
                    continue; // already printed (a reconnect from the last id)
                }
                last = e.Seq;
                if (s.Json)
                {
                    s.Out.WriteLine(data);
                }
                else
                {
                    Rendering.Line(s.Console, Rendering.EventLine(e));
                }
                if (end is { } stop && e.Seq >= stop)
                {
                    done = true;
                    break;
                }
            }
            if (!follow || done)
            {
                return;
            }
            // The server closed the stream: pick it up again after the last event printed.
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    /// <summary>One server-sent event: its id:, event: and data: fields (data lines joined by newlines).</summary>
    internal sealed record ServerSentEvent(string? Id, string? Event, string? Data);

    /// <summary>
    /// Server-sent events as they arrive (WHATWG's format: field lines, a blank line ends an event, ':' starts a
    /// comment). With <paramref name="quiet"/>, ends when no line arrives for that long.
    /// </summary>
    internal static async IAsyncEnumerable<ServerSentEvent> ReadAsync(TextReader reader, TimeSpan? quiet, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        string? id = null, type = null;
        var data = new StringBuilder();
        var hasData = false;
        while (true)
        {
            string? line;
            using (var idle = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                if (quiet is { } q)
                {
                    idle.CancelAfter(q);
                }
                try
                {
                    line = await reader.ReadLineAsync(idle.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    yield break; // quiet for long enough: nothing more is coming now
                }
            }
            if (line is null)
            {
                if (hasData)
                {
                    yield return new ServerSentEvent(id, type, data.ToString());
                }
                yield break;
            }
            if (line.Length == 0)
            {
                if (hasData || type is not null)
                {
                    yield return new ServerSentEvent(id, type, hasData ? data.ToString() : null);
                }
                type = null;
                data.Clear();
                hasData = false;
                continue;
            }
            if (line[0] == ':')
            {
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' '))
            {
                value = value[1..];
            }
            switch (field)
            {
                case "id": id = value; break;
                case "event": type = value; break;
                case "data":
                    if (hasData)
                    {
                        data.Append('\n');
                    }
                    data.Append(value);
                    hasData = true;
                    break;
            }
        }
    }
}
