using System.Collections.Immutable;

namespace Xapi.Cqrs.Domain.Tasks;

public enum TaskStatus
{
    Pending,
    Success,
    Failure,
    Cancelled,
}

public sealed record XapiTask
{
    public Guid Id { get; init; }

    /// <summary>Stream version this state reflects (maintained by the event store).</summary>
    public long Version { get; set; }

    public string Name { get; init; } = "";
    public string ObjectClass { get; init; } = "";
    public Guid ObjectId { get; init; }
    public string Subject { get; init; } = "";
    public TaskStatus Status { get; init; }
    public double Progress { get; init; }
    public string Step { get; init; } = "";
    public DateTimeOffset Created { get; init; }
    public DateTimeOffset? Finished { get; init; }
    public string? Result { get; init; }
    public ImmutableArray<string> ErrorInfo { get; init; } = [];

    public static XapiTask From(TaskCreated e) => new()
    {
        Id = e.TaskId,
        Name = e.Name,
        ObjectClass = e.ObjectClass,
        ObjectId = e.ObjectId,
        Subject = e.Subject,
        Created = e.CreatedAt,
    };

    public XapiTask On(TaskProgressed e) =>
        this with { Progress = Math.Max(Progress, e.Progress), Step = e.Step };

    public XapiTask On(TaskSucceeded e) =>
        this with { Status = TaskStatus.Success, Progress = 1.0, Result = e.Result, Finished = e.FinishedAt };

    public XapiTask On(TaskFailed e) =>
        this with { Status = TaskStatus.Failure, ErrorInfo = e.ErrorInfo, Finished = e.FinishedAt };

    public XapiTask On(TaskCancelled e) =>
        this with { Status = TaskStatus.Cancelled, ErrorInfo = [ErrorCodes.TaskCancelled, Id.ToString()], Finished = e.FinishedAt };

    public bool IsFinished => Status != TaskStatus.Pending;

    /// <summary>The next state after any event of this stream (unknown events leave it unchanged).</summary>
    public XapiTask Evolve(object @event) => @event switch
    {
        TaskProgressed x => On(x),
        TaskSucceeded x => On(x),
        TaskFailed x => On(x),
        TaskCancelled x => On(x),
        _ => this,
    };

    /// <summary>The first state of the stream, from its creation event (null for any other event).</summary>
    public static XapiTask? Start(object @event) => @event is TaskCreated e ? From(e) : null;
}
