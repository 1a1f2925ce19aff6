using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Tasks;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>The task class: read (progress is derived from the steps of the operation it drives).</summary>
public static class TaskEndpoints
{
    public static void MapTasks(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/tasks/{id:guid}", (Guid id, long? minVersion, IMediator m, CancellationToken ct) =>
            m.Send(new GetTask.Query(id, minVersion), ct)).Requires("task.get_record", Role.ReadOnly);
}
