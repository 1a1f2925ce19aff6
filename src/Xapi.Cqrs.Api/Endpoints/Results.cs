using System.Text.Json;
using System.Text.Json.Nodes;
using Marten;
using MediatR;
using Xapi.Cqrs.Application;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Application.Tasks;
using Xapi.Cqrs.Application.Vms;

namespace Xapi.Cqrs.Api.Endpoints;

internal static class Answers
{
    /// <summary>
    /// An optional JSON body: null when the request has none (so <c>POST …/start</c> with no body works, as curl sends
    /// it), else read with the service's JSON options; malformed JSON is a 400 problem like any other body.
    /// </summary>
    public static async Task<T?> OptionalBodyAsync<T>(HttpRequest request, CancellationToken ct)
        where T : class
    {
        if (request.ContentLength == 0 || (request.ContentLength is null && !request.Headers.ContainsKey("Transfer-Encoding")))
        {
            return null;
        }

        if (!request.HasJsonContentType())
        {
            throw new BadHttpRequestException("the body must be application/json", StatusCodes.Status415UnsupportedMediaType);
        }

        try
        {
            return await request.ReadFromJsonAsync<T>(Strict(request), ct);
        }
        catch (JsonException j) when (j.Message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            var field = UnknownField(j);
            throw RequestValidationException.Single(field, ErrorCodes.InvalidValue, field, "unknown field");
        }
        catch (JsonException j)
        {
            throw new BadHttpRequestException("the body is not valid JSON", StatusCodes.Status400BadRequest, j);
        }
    }

    /// <summary>
    /// A call that takes no parameters: no body, or an empty JSON object (<c>{}</c>, as curl -d '{}' sends). Anything
    /// else — malformed JSON, another JSON value, any field — is a 400 problem, and nothing is written.
    /// </summary>
    public static async Task NoParametersAsync(HttpRequest request, CancellationToken ct)
    {
        switch (await OptionalBodyAsync<JsonNode>(request, ct))
        {
            case null:
            case JsonObject { Count: 0 }:
                return;
            case JsonObject fields:
                var field = fields.First().Key;
                throw RequestValidationException.Single(field, ErrorCodes.InvalidValue, field, "this call takes no parameters");
            default:
                throw RequestValidationException.Single("body", ErrorCodes.InvalidValue, "body", "expected no body or {}");
        }
    }

    /// <summary>The unknown field's name, from System.Text.Json's message ("The JSON property 'x' could not be mapped …").</summary>
    private static string UnknownField(JsonException j)
    {
        var start = j.Message.IndexOf('\'');
        var end = start < 0 ? -1 : j.Message.IndexOf('\'', start + 1);
        return end > start ? j.Message[(start + 1)..end] : "body";
    }

    private static JsonSerializerOptions? strict;

    /// <summary>The service's JSON options, refusing fields the body type does not have (unknown fields are a 400).</summary>
    private static JsonSerializerOptions Strict(HttpRequest request) =>
        strict ??= new JsonSerializerOptions(request.HttpContext.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions)
        {
            UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        };

    /// <summary>202 {taskId}: the task of a call made with ?async=true (its location is /api/tasks/{taskId}).</summary>
    public sealed record TaskAccepted(Guid TaskId);

    /// <summary>201 {id, version} with the new object's location.</summary>
    /// <summary>One page of a history: the entries, and a <c>Link: &lt;…&gt;; rel="next"</c> header with the same query and the next <c>after</c>.</summary>
    public static IResult Page(HttpContext http, Application.Vms.History.Page page)
    {
        if (page.Next is { } next)
        {
            var query = System.Web.HttpUtility.ParseQueryString(http.Request.QueryString.Value ?? "");
            query["after"] = next.ToString(System.Globalization.CultureInfo.InvariantCulture);
            http.Response.Headers.Link = $"<{http.Request.Path}?{query}>; rel=\"next\"";
        }

        return Results.Ok(page.Entries);
    }

    public static IResult Created(string collection, Created created) =>
        Results.Created($"/api/{collection}/{created.Id}", new { id = created.Id, version = created.Version });

    /// <summary>
    /// A call that opens a task: 202 {taskId} with its location when <paramref name="async"/>, else the record
    /// <paramref name="read"/> answers once the task has ended (or the task's error).
    /// </summary>
    public static async Task<IResult> OnceDone<T>(IRequest<StartVm.Started> command, bool? async, Func<CancellationToken, Task<T>> read,
        IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct)
    {
        var started = await m.Send(command, ct);
        if (async == true)
        {
            return Results.Accepted($"/api/tasks/{started.TaskId}", new TaskAccepted(started.TaskId));
        }

        await AwaitTask.UntilFinishedAsync(session, signals, started.TaskId, time, ct);
        return Results.Ok(await read(ct));
    }
}
