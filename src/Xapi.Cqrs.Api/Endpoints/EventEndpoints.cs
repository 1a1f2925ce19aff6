using System.Globalization;
using System.Text;
using System.Text.Json;
using Marten;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Events;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Telemetry;
using Xapi.Cqrs.Application.Vms;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>How many event streams may be open at once (Xapi:Events:MaxClients), and how often an idle stream looks for commits of other processes.</summary>
public sealed class EventStreamSettings
{
    public int MaxClients { get; init; } = 64;

    public TimeSpan Fallback { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(15);

    private int open;

    public bool TryEnter()
    {
        if (Interlocked.Increment(ref open) <= MaxClients)
        {
            return true;
        }

        Interlocked.Decrement(ref open);
        return false;
    }

    public void Leave() => Interlocked.Decrement(ref open);
}

/// <summary>
/// <c>GET /api/events/stream?after=seq</c>: server-sent events, every event of the log in commit order (<c>id:</c> the
/// sequence number, <c>event:</c> the type, <c>data:</c> <c>{seq, stream, version, type, at, actor, correlationId, data}</c>),
/// first those after <c>after</c> (or the <c>Last-Event-ID</c> a reconnecting EventSource sends), then live as they
/// commit; with neither, live from now. Needs a token of any role: the bearer header, or — for this route only, since a
/// browser's EventSource cannot set headers — <c>?access_token=</c>.
/// <para>Bounded: each client reads the log in pages of <see cref="EventLog.PageSize"/> and writes one page before it
/// reads the next, so a slow client slows only itself (TCP backpressure) and holds one page at most; at most
/// <see cref="EventStreamSettings.MaxClients"/> streams are open (503 TOO_BUSY past that). A commit of this process wakes
/// every stream at once; commits of other processes are found by a look every <see cref="EventStreamSettings.Fallback"/>.</para>
/// </summary>
public static class EventEndpoints
{
    public const string StreamPath = "/api/events/stream";

    public static void MapEvents(this IEndpointRouteBuilder app) =>
        app.MapGet(StreamPath, (long? after, HttpContext http, IDocumentStore store, CommitSignal signal, EventStreamSettings settings,
                IHostApplicationLifetime lifetime, CancellationToken ct) => StreamAsync(after, http, store, signal, settings, lifetime, ct))
            .Requires("event.stream", Role.ReadOnly)
            .Produces<History.Entry>(200, "text/event-stream")
            .WithDescription("Server-sent events: `id:` is the event's sequence number, `event:` its type, `data:` the entry as JSON. " +
                "Starts after `after` or the Last-Event-ID header; with neither, live from now. `access_token` may carry the token (EventSource cannot send headers).");

    private static async Task StreamAsync(long? after, HttpContext http, IDocumentStore store, CommitSignal signal, EventStreamSettings settings,
        IHostApplicationLifetime lifetime, CancellationToken requestAborted)
    {
        var resume = http.Request.Headers["Last-Event-ID"].ToString();
        long? from = after;
        if (after is < 0)
        {
            throw RequestValidationException.Single("after", ErrorCodes.InvalidValue, "after", after.Value.ToString(CultureInfo.InvariantCulture));
        }

        if (from is null && resume.Length > 0)
        {
            from = long.TryParse(resume, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                ? id
                : throw RequestValidationException.Single("Last-Event-ID", ErrorCodes.InvalidValue, "Last-Event-ID", resume.Length > 64 ? resume[..64] : resume);
        }

        if (!settings.TryEnter())
        {
            throw new ServiceBusyException($"{settings.MaxClients} event streams are open already", TimeSpan.FromSeconds(5));
        }

        XapiTelemetry.EventStreams.Add(1);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, lifetime.ApplicationStopping);
        var ct = stop.Token;
        try
        {
            long last;
            await using (var session = store.QuerySession())
            {
                last = from ?? await EventLog.HeadAsync(session, ct);
            }

            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            http.Response.Headers["X-Accel-Buffering"] = "no";
            http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
            await http.Response.WriteAsync($"retry: 2000\n: from {last}\n\n", ct);
            await http.Response.Body.FlushAsync(ct);

            var skipGapsUpTo = 0L;
            DateTimeOffset? gapSeen = null;
            var quietSince = DateTimeOffset.UtcNow;
            var text = new StringBuilder();
            while (!ct.IsCancellationRequested)
            {
                var wake = signal.Next; // taken before reading: a commit during the read still wakes the next wait
                EventLog.Page page;
                await using (var session = store.QuerySession())
                {
                    page = await EventLog.ReadAsync(session, last, skipGapsUpTo, ct);
                }

                if (page.Entries.Count > 0)
                {
                    text.Clear();
                    foreach (var entry in page.Entries)
                    {
                        text.Append("id: ").Append(entry.Seq.ToString(CultureInfo.InvariantCulture)).Append('\n')
                            .Append("event: ").Append(entry.Type).Append('\n')
                            .Append("data: ").Append(JsonSerializer.Serialize(entry, JsonSerializerOptions.Web)).Append("\n\n");
                        last = entry.Seq;
                    }

                    await http.Response.WriteAsync(text.ToString(), ct);
                    await http.Response.Body.FlushAsync(ct);
                    quietSince = DateTimeOffset.UtcNow;
                }

                if (page.StoppedAtGap)
                {
                    // A number drawn by a transaction still in flight: wait for it a little, then go past it.
                    gapSeen ??= DateTimeOffset.UtcNow;
                    if (DateTimeOffset.UtcNow - gapSeen > EventLog.StaleGap)
                    {
                        skipGapsUpTo = page.FirstAfterGap - 1;
                        gapSeen = null;
                        continue;
                    }

                    await Task.WhenAny(wake, Task.Delay(TimeSpan.FromMilliseconds(200), ct));
                    continue;
                }

                gapSeen = null;
                if (page.Entries.Count == EventLog.PageSize)
                {
                    continue; // more to read at once
                }

                await Task.WhenAny(wake, Task.Delay(settings.Fallback, ct));
                if (DateTimeOffset.UtcNow - quietSince > settings.Heartbeat)
                {
                    await http.Response.WriteAsync(": keep-alive\n\n", ct); // finds clients that left; keeps proxies from timing out
                    await http.Response.Body.FlushAsync(ct);
                    quietSince = DateTimeOffset.UtcNow;
                }
            }
        }
        catch (Exception e) when ((e is OperationCanceledException && ct.IsCancellationRequested) || e is IOException)
        {
            // the client left, or the service stops: the stream just ends
        }
        finally
        {
            settings.Leave();
            XapiTelemetry.EventStreams.Add(-1);
        }
    }
}
