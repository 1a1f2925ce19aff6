using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Application.Tasks;

/// <summary>GET /api/tasks/{id}: errorInfo is [code, params…] as xapi reports it.</summary>
public sealed record TaskView(
    Guid Id, string Name, string Status, double Progress, string Step, DateTimeOffset Created, DateTimeOffset? Finished,
    string? Result, IReadOnlyList<string> ErrorInfo, string ObjectClass, Guid ObjectId, long Version)
{
    public static TaskView From(XapiTask t) => new(
        t.Id, t.Name, t.Status.ToString().ToLowerInvariant(), t.Progress, t.Step, t.Created, t.Finished, t.Result, t.ErrorInfo, t.ObjectClass, t.ObjectId, t.Version);
}

public static class GetTask
{
    public sealed record Query(Guid Id, long? MinVersion = null) : IRequest<TaskView>;

    public sealed class Handler(IQuerySession session, TimeProvider time) : IRequestHandler<Query, TaskView>
    {
        public async Task<TaskView> Handle(Query request, CancellationToken cancellationToken) =>
            TaskView.From(await ReadModels.LoadAsync<XapiTask>(session, request.Id, ObjectClass.Task, request.MinVersion, t => t.Version, time, cancellationToken));
    }
}
