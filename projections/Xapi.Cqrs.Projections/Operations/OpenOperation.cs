using JasperFx.Events;
using Marten;
using Marten.Events.Projections;
using Xapi.Cqrs.Domain.Operations;

namespace Xapi.Cqrs.Projections.Operations;

/// <summary>One entry of some object's current_operations, open since <see cref="Since"/>.</summary>
public sealed record OpenOperation
{
    public string Id { get; set; } = "";
    public string ObjectClass { get; init; } = "";
    public Guid ObjectId { get; init; }
    public string Operation { get; init; } = "";
    public Guid TaskId { get; init; }
    public DateTimeOffset Since { get; init; }

    public static string KeyOf(Guid objectId, Guid taskId) => $"{objectId:N}:{taskId:N}";
}

/// <summary>Every OperationAdded opens an entry; its OperationRemoved closes it (GET /api/admin/operations).</summary>
public sealed partial class OpenOperationsProjection : EventProjection
{
    public OpenOperation Create(IEvent<OperationAdded> e) => new()
    {
        Id = OpenOperation.KeyOf(e.StreamId, e.Data.TaskId),
        ObjectClass = e.Data.ObjectClass,
        ObjectId = e.StreamId,
        Operation = e.Data.Operation,
        TaskId = e.Data.TaskId,
        Since = e.Timestamp,
    };

    public void Project(IEvent<OperationRemoved> e, IDocumentOperations ops) =>
        ops.Delete<OpenOperation>(OpenOperation.KeyOf(e.StreamId, e.Data.TaskId));
}
