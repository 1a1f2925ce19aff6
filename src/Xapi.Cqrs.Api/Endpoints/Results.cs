using Marten;
using MediatR;
using Xapi.Cqrs.Application;
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
            return await request.ReadFromJsonAsync<T>(ct);
        }
        catch (System.Text.Json.JsonException j)
        {
            throw new BadHttpRequestException("the body is not valid JSON", StatusCodes.Status400BadRequest, j);
        }
    }

    /// <summary>201 {id, version} with the new object's location.</summary>
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
            return Results.Accepted($"/api/tasks/{started.TaskId}", new { taskId = started.TaskId });
        }

        await AwaitTask.UntilFinishedAsync(session, signals, started.TaskId, time, ct);
        return Results.Ok(await read(ct));
    }
}
