using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Tasks;

/// <summary>GET /api/tasks/{id}: errorInfo is [code, params…] as xapi reports it.</summary>
public sealed record TaskView(
    Guid Id, string Name, string Status, double Progress, string Step, DateTimeOffset Created, DateTimeOffset? Finished,
    string? Result, IReadOnlyList<string> ErrorInfo, string ObjectClass, Guid ObjectId, long Version)
{
    /// <summary>A pending task's progress and step come from the last host-side step of the VM it drives.</summary>
    public static TaskView From(XapiTask t, TaskStep? step = null) => new(
        t.Id, t.Name, t.Status.ToString().ToLowerInvariant(),
        step is not null && !t.IsFinished ? Math.Max(t.Progress, step.Progress) : t.Progress,
        step is not null && !t.IsFinished ? step.Name : t.Step,
        t.Created, t.Finished, t.Result, t.ErrorInfo, t.ObjectClass, t.ObjectId, t.Version);
}

public static class GetTask
{
    public sealed record Query(Guid Id, long? MinVersion = null) : IRequest<TaskView>;

    public sealed class Handler(IQuerySession session, TaskSignals signals, TimeProvider time) : IRequestHandler<Query, TaskView>
    {
        public async Task<TaskView> Handle(Query request, CancellationToken cancellationToken)
        {
            // ?minVersion= waits; a task finished by this process wakes the wait at once.
            var wake = request.MinVersion is null ? null : signals.Finished(request.Id);
            var task = await ReadModels.LoadAsync<XapiTask>(session, request.Id, ObjectClass.Task, request.MinVersion, t => t.Version, time, cancellationToken, wake);

            var step = !task.IsFinished && task.ObjectClass == ObjectClass.Vm && await session.LoadAsync<Vm>(task.ObjectId, cancellationToken) is { Step: { } s } && s.TaskId == task.Id
                ? s
                : null;
            return TaskView.From(task, step);
        }
    }
}
