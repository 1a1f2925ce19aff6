using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Api.Http;

/// <summary>The least role an endpoint needs, and the xapi permission name reported when refused.</summary>
public sealed record Permission(string Name, Role MinimumRole);

public static class Auth
{
    public const string CallerKey = "xapi.caller";

    /// <summary>Marks an endpoint with the permission it needs (checked by the auth middleware).</summary>
    public static TBuilder Requires<TBuilder>(this TBuilder builder, string permission, Role role)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new Permission(permission, role));

    public static Caller CallerOf(HttpContext http) => (Caller)http.Items[CallerKey]!;

    /// <summary>
    /// Every /api request needs a known bearer token (401 otherwise); the endpoint's permission needs a
    /// role at least as strong as its minimum (403 RBAC_PERMISSION_DENIED [permission; role] otherwise).
    /// </summary>
    public static async Task Middleware(HttpContext http, RequestDelegate next)
    {
        if (!http.Request.Path.StartsWithSegments("/api"))
        {
            await next(http);
            return;
        }

        var header = http.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : "";
        if (token.Length == 0 && http.Request.Path.Equals(Endpoints.EventEndpoints.StreamPath, StringComparison.Ordinal)
            && http.Request.Query["access_token"] is [{ } query])
        {
            token = query; // this route only: a browser's EventSource cannot send an Authorization header
        }
        var tokens = http.RequestServices.GetRequiredService<TokenStore>();
        var caller = token.Length is > 0 and <= 512 ? await tokens.FindAsync(token, http.RequestAborted) : null;
        if (caller is null)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            await Problems.WriteAsync(http, 401, ErrorCodes.SessionAuthenticationFailed, [],
                token.Length == 0 ? "A bearer token is required (Authorization: Bearer <token>)." : "The token is not known.");
            return;
        }

        http.Items[CallerKey] = caller;
        if (http.GetEndpoint()?.Metadata.GetMetadata<Permission>() is { } permission && caller.Role < permission.MinimumRole)
        {
            await Problems.WriteAsync(http, 403, ErrorCodes.RbacPermissionDenied, [permission.Name, caller.Role.ToWire()],
                $"Role {caller.Role.ToWire()} may not {permission.Name}; it needs {permission.MinimumRole.ToWire()} or above.");
            return;
        }

        await next(http);
    }
}
