using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Messages;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>The message class: xapi's messages (VM_STARTED, VM_SHUTDOWN, …), by object.</summary>
public static class MessageEndpoints
{
    public static void MapMessages(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/messages", (Guid? obj, IMediator m, CancellationToken ct) => m.Send(new ListMessages.Query(obj), ct))
            .Requires("message.get_all", Role.ReadOnly);
}
