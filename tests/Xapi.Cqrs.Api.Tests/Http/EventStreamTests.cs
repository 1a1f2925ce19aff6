using System.Net;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;

namespace Xapi.Cqrs.Api.Tests.Http;

/// <summary>
/// GET /api/events/stream over real HTTP: the log replayed after a sequence number (or the Last-Event-ID), then live
/// events as they commit, in order; a token from the header or ?access_token=; bad input answered as problems.
/// </summary>
public sealed class EventStreamTests(XapiServer server) : IClassFixture<XapiServer>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>One server-sent event as read off the wire.</summary>
    private sealed record Sse(long Id, string Event, JsonElement Data);

    /// <summary>An open stream; <see cref="NextAsync"/> reads the next event, failing after 30 s (a guard, not a wait).</summary>
    private sealed class Stream(HttpResponseMessage response, StreamReader reader) : IDisposable
    {
        public HttpResponseMessage Response => response;

        public async Task<Sse> NextAsync()
        {
            using var guard = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            guard.CancelAfter(TimeSpan.FromSeconds(30));
            long? id = null;
            string? type = null;
            string? data = null;
            while (await reader.ReadLineAsync(guard.Token) is { } line)
            {
                if (line.Length == 0)
                {
                    if (id is not null)
                    {
                        return new Sse(id.Value, type!, JsonDocument.Parse(data!).RootElement.Clone());
                    }

                    continue; // a comment block (retry:, keep-alive)
                }

                if (line.StartsWith("id: ", StringComparison.Ordinal))
                {
                    id = long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
                }
                else if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line[7..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data = line[6..];
                }
            }

            throw new EndOfStreamException("the event stream ended");
        }

        /// <summary>Reads events until one matches, answering every event read on the way (including it).</summary>
        public async Task<List<Sse>> UntilAsync(Func<Sse, bool> match)
        {
            var read = new List<Sse>();
            while (true)
            {
                var next = await NextAsync();
                read.Add(next);
                if (match(next))
                {
                    return read;
                }
            }
        }

        public void Dispose()
        {
            reader.Dispose();
            response.Dispose();
        }
    }

    private static async Task<Stream> OpenAsync(HttpClient client, string query = "", string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/events/stream" + query);
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("text/event-stream");
        return new Stream(response, new StreamReader(await response.Content.ReadAsStreamAsync(Ct)));
    }

    [Fact]
    public async Task The_log_is_replayed_after_a_sequence_then_live_events_follow_in_order()
    {
        using var client = server.Client();
        var host = await client.CreateHost(nameLabel: "sse-host");
        var vm = await client.CreateVm();

        using var stream = await OpenAsync(client, "?after=0");
        var replayed = await stream.UntilAsync(e => e.Event == "vm_created" && e.Data.GetProperty("stream").GetGuid() == vm);
        replayed.ShouldContain(e => e.Event == "host_registered" && e.Data.GetProperty("stream").GetGuid() == host);
        replayed[0].Id.ShouldBeGreaterThan(0);

        using (var started = await client.PostAsync($"/api/vms/{vm}/start", null, Ct))
        {
            started.StatusCode.ShouldBe(HttpStatusCode.OK, await started.Content.ReadAsStringAsync(Ct));
        }

        var live = await stream.UntilAsync(e => e.Event == "resident_on_set" && e.Data.GetProperty("stream").GetGuid() == vm);
        live.ShouldContain(e => e.Event == "host_chosen");
        var all = replayed.Concat(live).ToList();
        all.Select(e => e.Id).ShouldBe(all.Select(e => e.Id).Order(), "in commit order");
        all.Select(e => e.Id).Distinct().Count().ShouldBe(all.Count, "each event once");

        var resident = live[^1].Data;
        resident.GetProperty("seq").GetInt64().ShouldBe(live[^1].Id);
        resident.GetProperty("type").GetString().ShouldBe("resident_on_set");
        resident.GetProperty("version").GetInt64().ShouldBeGreaterThan(1);
        resident.GetProperty("at").GetDateTimeOffset().ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddMinutes(-5));
        resident.GetProperty("actor").GetString().ShouldNotBeNullOrEmpty();
        resident.GetProperty("correlationId").GetString().ShouldNotBeNullOrEmpty();
        resident.GetProperty("data").GetProperty("hostId").GetGuid().ShouldNotBe(Guid.Empty);
    }

    [Fact]
    public async Task Last_event_id_resumes_after_it_and_no_position_means_live_from_now()
    {
        using var client = server.Client();
        await client.CreateNetwork("first");
        var before = await client.CreateNetwork("before");
        long first, beforeSeq;
        using (var whole = await OpenAsync(client, "?after=0"))
        {
            var read = await whole.UntilAsync(e => e.Data.GetProperty("stream").GetGuid() == before);
            first = read[0].Id;
            beforeSeq = read[^1].Id;
        }

        using (var resumed = await OpenAsync(client, lastEventId: first.ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            (await resumed.NextAsync()).Id.ShouldBeGreaterThan(first, "resumed after the Last-Event-ID");
        }

        using var live = await OpenAsync(client);
        var network = await client.CreateNetwork("after");
        var seen = await live.UntilAsync(e => e.Data.GetProperty("stream").GetGuid() == network);
        seen[^1].Event.ShouldBe("network_created");
        seen.ShouldAllBe(e => e.Id > beforeSeq, "a stream without a position starts at the log's end: nothing older comes");
    }

    [Fact]
    public async Task A_token_is_needed_and_may_come_as_access_token_on_this_route_only()
    {
        using var anonymous = server.Client(token: null);
        using (var refused = await anonymous.GetAsync("/api/events/stream", HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            await refused.ShouldBeProblemWithCode(HttpStatusCode.Unauthorized, "SESSION_AUTHENTICATION_FAILED");
        }

        using (var unknown = await anonymous.GetAsync("/api/events/stream?access_token=nope", HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            await unknown.ShouldBeProblemWithCode(HttpStatusCode.Unauthorized, "SESSION_AUTHENTICATION_FAILED");
        }

        using (var elsewhere = await anonymous.GetAsync($"/api/vms?access_token={server.AdminToken}", Ct))
        {
            await elsewhere.ShouldBeProblemWithCode(HttpStatusCode.Unauthorized, "SESSION_AUTHENTICATION_FAILED");
        }

        using var reader = await server.ClientWithRole("read-only");
        var token = reader.DefaultRequestHeaders.Authorization!.Parameter!;
        using var admin = server.Client();
        await admin.CreateNetwork("for-the-reader");
        using var stream = await OpenAsync(anonymous, $"?after=0&access_token={Uri.EscapeDataString(token)}");
        (await stream.NextAsync()).Id.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task Bad_positions_are_problems()
    {
        using var client = server.Client();
        using (var negative = await client.GetAsync("/api/events/stream?after=-1", Ct))
        {
            await negative.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "after", "-1");
        }

        using (var word = await client.GetAsync("/api/events/stream?after=soon", Ct))
        {
            await word.ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE");
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/events/stream");
        request.Headers.TryAddWithoutValidation("Last-Event-ID", "yesterday");
        using var resumed = await client.SendAsync(request, Ct);
        await resumed.ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "Last-Event-ID", "yesterday");
    }
}
