using Xapi.Cqrs.Application;

namespace Xapi.Cqrs.Api.Endpoints;

internal static class Answers
{
    /// <summary>201 {id, version} with the new object's location.</summary>
    public static IResult Created(string collection, Created created) =>
        Results.Created($"/api/{collection}/{created.Id}", new { id = created.Id, version = created.Version });
}
