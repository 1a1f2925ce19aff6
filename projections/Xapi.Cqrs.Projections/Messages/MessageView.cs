using Marten.Events.Aggregation;
using Xapi.Cqrs.Domain.Messages;

namespace Xapi.Cqrs.Projections.Messages;

/// <summary>GET /api/messages: one xapi message (§9).</summary>
public sealed record MessageView
{
    public Guid Id { get; set; }
    public string Name { get; init; } = "";
    public long Priority { get; init; }
    public string Class { get; init; } = "";
    public Guid ObjUuid { get; init; }
    public DateTimeOffset Timestamp { get; init; }
    public string Body { get; init; } = "";
}

public sealed partial class MessageProjection : SingleStreamProjection<MessageView, Guid>
{
    public static MessageView Create(MessageCreated e) => new()
    {
        Id = e.MessageId,
        Name = e.Name,
        Priority = e.Priority,
        Class = e.Class,
        ObjUuid = e.ObjUuid,
        Timestamp = e.Timestamp,
        Body = e.Body,
    };
}
