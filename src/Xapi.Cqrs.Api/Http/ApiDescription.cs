using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Scalar.AspNetCore;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Api.Http;

/// <summary>
/// A request body an endpoint reads by hand (an optional, strict JSON body: <c>POST /api/vms/{id}/start</c>, <c>start-on</c>)
/// and so cannot be inferred from its delegate. Described for the OpenAPI document only: unlike <c>Accepts&lt;T&gt;</c>, it
/// adds no <c>IAcceptsMetadata</c>, so routing's content-type matcher stays out of the way and the endpoint keeps its own
/// answers (no body, <c>{}</c>, unknown fields, malformed JSON).
/// </summary>
public sealed record DescribedBody(Type Type, bool Required = false);

/// <summary>
/// The OpenAPI 3.1 document at <c>/openapi/v1.json</c> (generated from the endpoints) and the interactive reference at
/// <c>/docs</c> (Scalar). Added to every operation from its metadata: the bearer scheme, the problem+json answers it can
/// give (401 and 403 for every /api route, 400 for a route with input, 404 for a route naming an object, 409 and 503 for
/// a command) with the xapi codes each one carries, and the role it needs.
/// </summary>
public static class ApiDescription
{
    public const string DocumentPath = "/openapi/v1.json";
    public const string ProblemSchema = "Problem";
    private const string Bearer = "bearer";

    /// <summary>The 409 codes of the calls that have their own (by xapi permission name); other commands get <see cref="StateCodes"/>.</summary>
    private static readonly Dictionary<string, string[]> RefusalsByPermission = new(StringComparer.Ordinal)
    {
        ["VM.start"] = [ErrorCodes.VmBadPowerState, ErrorCodes.OtherOperationInProgress, "NO_HOSTS_AVAILABLE", "HOST_NOT_ENOUGH_FREE_MEMORY", "VM_REQUIRES_SR", "VM_REQUIRES_NETWORK", "VM_HVM_REQUIRED", "HOST_NOT_ENOUGH_PCPUS", "OPERATION_BLOCKED", "VDI_IN_USE"],
        ["VM.start_on"] = [ErrorCodes.VmBadPowerState, ErrorCodes.OtherOperationInProgress, "HOST_DISABLED", "HOST_NOT_LIVE", "HOST_NOT_ENOUGH_FREE_MEMORY", "VM_REQUIRES_SR", "VM_REQUIRES_NETWORK", "VM_HVM_REQUIRED", "HOST_NOT_ENOUGH_PCPUS", "OPERATION_BLOCKED", "VDI_IN_USE"],
        ["VM.destroy"] = [ErrorCodes.VmBadPowerState, ErrorCodes.OtherOperationInProgress, "OPERATION_NOT_ALLOWED"],
        ["VBD.plug"] = ["DEVICE_ALREADY_ATTACHED", "VM_BAD_POWER_STATE", "VM_MISSING_PV_DRIVERS", ErrorCodes.OtherOperationInProgress],
        ["VBD.unplug"] = ["DEVICE_ALREADY_DETACHED", "VM_BAD_POWER_STATE", "VM_MISSING_PV_DRIVERS", ErrorCodes.OtherOperationInProgress],
        ["VIF.plug"] = ["DEVICE_ALREADY_ATTACHED", "VM_BAD_POWER_STATE", "VM_MISSING_PV_DRIVERS", ErrorCodes.OtherOperationInProgress],
        ["VIF.unplug"] = ["DEVICE_ALREADY_DETACHED", "VM_BAD_POWER_STATE", "VM_MISSING_PV_DRIVERS", ErrorCodes.OtherOperationInProgress],
        ["VBD.create"] = ["DEVICE_ALREADY_EXISTS", "VDI_IN_USE", "VM_BAD_POWER_STATE", ErrorCodes.OtherOperationInProgress],
        ["VIF.create"] = ["DEVICE_ALREADY_EXISTS", "VM_BAD_POWER_STATE", ErrorCodes.OtherOperationInProgress],
    };

    private static readonly string[] StateCodes = [ErrorCodes.VmBadPowerState, ErrorCodes.OtherOperationInProgress, "OPERATION_NOT_ALLOWED", "VM_LACKS_FEATURE"];

    public static IServiceCollection AddXapiApiDescription(this IServiceCollection services) =>
        services.AddOpenApi("v1", o =>
        {
            o.OpenApiVersion = OpenApiSpecVersion.OpenApi3_1;
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "Xapi.Cqrs",
                    Version = "v1",
                    Description = "XenServer's VM lifecycle (xapi + xenopsd) as an event-sourced service. Every /api call needs " +
                        "`Authorization: Bearer <token>`; errors are application/problem+json with xapi's `code` and `params`.",
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[Bearer] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "A token from POST /api/admin/tokens (or the admin token, <data dir>/admin.token). Roles are xapi's.",
                };
                document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
                document.Components.Schemas[ProblemSchema] = Problem();
                // /metrics is OpenTelemetry's Prometheus endpoint, a plain request delegate the generator does not see.
                document.Paths ??= new OpenApiPaths();
                document.Tags ??= new HashSet<OpenApiTag>();
                document.Tags.Add(new OpenApiTag { Name = "observability" });
                document.Paths[Observability.MetricsPath] = new OpenApiPathItem
                {
                    Operations = new Dictionary<HttpMethod, OpenApiOperation>
                    {
                        [HttpMethod.Get] = new()
                        {
                            Summary = "Prometheus metrics",
                            Description = "Prometheus text exposition format. No token unless Xapi:Metrics:RequireToken=true (then any role's bearer token).",
                            Tags = new HashSet<OpenApiTagReference> { new("observability", document) },
                            Responses = new OpenApiResponses
                            {
                                ["200"] = new OpenApiResponse
                                {
                                    Description = "The metrics",
                                    Content = new Dictionary<string, OpenApiMediaType> { ["text/plain"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String } } },
                                },
                            },
                        },
                    },
                };
                return Task.CompletedTask;
            });
            o.AddSchemaTransformer((schema, context, _) =>
            {
                // Bodies are records whose fields are nullable so that the validators can answer a missing one with xapi's
                // code (400 INVALID_VALUE [field; …]): such a field is optional on the wire, whatever the constructor says.
                if (schema.Required is { Count: > 0 } required && context.JsonPropertyInfo is null)
                {
                    foreach (var property in context.JsonTypeInfo.Properties)
                    {
                        if (Nullable.GetUnderlyingType(property.PropertyType) is not null || (!property.PropertyType.IsValueType && property.IsSetNullable))
                        {
                            required.Remove(property.Name);
                        }
                    }
                }

                return Task.CompletedTask;
            });
            o.AddOperationTransformer(async (operation, context, ct) =>
            {
                var metadata = context.Description.ActionDescriptor.EndpointMetadata;
                if (metadata.OfType<DescribedBody>().FirstOrDefault() is { } body)
                {
                    operation.RequestBody = new OpenApiRequestBody
                    {
                        Required = body.Required,
                        Description = "Optional JSON body (no body, or {} , is the default); unknown fields are refused with 400 INVALID_VALUE.",
                        Content = new Dictionary<string, OpenApiMediaType>
                        {
                            ["application/json"] = new() { Schema = await context.GetOrCreateSchemaAsync(body.Type, null, ct) },
                        },
                    };
                }

                var path = "/" + (context.Description.RelativePath ?? "");
                if (!path.StartsWith("/api", StringComparison.Ordinal))
                {
                    return;
                }

                var document = context.Document!;
                var permission = metadata.OfType<Permission>().LastOrDefault();
                var tag = TagOf(path);
                document.Tags ??= new HashSet<OpenApiTag>();
                if (!document.Tags.Any(t => t.Name == tag))
                {
                    document.Tags.Add(new OpenApiTag { Name = tag });
                }

                operation.Tags = new HashSet<OpenApiTagReference> { new(tag, document) };
                operation.Summary ??= permission?.Name;
                operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Bearer, document)] = [] }];
                if (permission is not null)
                {
                    operation.Description = (operation.Description is { Length: > 0 } d ? d + "\n\n" : "") +
                        $"Needs role `{permission.MinimumRole.ToWire()}` or above (xapi permission `{permission.Name}`).";
                }

                var method = context.Description.HttpMethod ?? "GET";
                var command = method is "POST" or "PUT" or "PATCH" or "DELETE";
                var hasInput = command || context.Description.ParameterDescriptions.Any(p => p.Source.Id != "Path");
                operation.Responses ??= new OpenApiResponses();
                void Add(int status, string description, params string[] codes)
                {
                    var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (operation.Responses.ContainsKey(key))
                    {
                        return;
                    }

                    operation.Responses[key] = new OpenApiResponse
                    {
                        Description = codes.Length == 0 ? description : $"{description} Codes: {string.Join(", ", codes)}.",
                        Content = new Dictionary<string, OpenApiMediaType>
                        {
                            [Problems.ContentType] = new() { Schema = new OpenApiSchemaReference(ProblemSchema, document) },
                        },
                    };
                }

                if (hasInput)
                {
                    Add(400, "Malformed body or a field that fails validation (`errors` lists every failing field).",
                        ErrorCodes.InvalidValue, ErrorCodes.ValueNotSupported, "MEMORY_CONSTRAINT_VIOLATION", "INVALID_DEVICE", "MAC_INVALID");
                }

                Add(401, "Missing or unknown bearer token.", ErrorCodes.SessionAuthenticationFailed);
                Add(403, "The token's role may not do this.", ErrorCodes.RbacPermissionDenied);
                if (path.Contains('{', StringComparison.Ordinal))
                {
                    Add(404, "No such object: params are [class, id].", ErrorCodes.HandleInvalid);
                }

                if (command)
                {
                    Add(409, "Refused by the object's state.",
                        permission is not null && RefusalsByPermission.TryGetValue(permission.Name, out var codes) ? codes : StateCodes);
                    Add(503, "The command could not be decided now; nothing was written. Retry after the Retry-After header's seconds.", ServiceBusyException.Code);
                }
            });
        });

    public static void MapXapiApiDescription(this WebApplication app)
    {
        app.MapOpenApi(DocumentPath);
        app.MapScalarApiReference("/docs", o =>
        {
            o.Title = "Xapi.Cqrs API";
            o.OpenApiRoutePattern = DocumentPath;
        });
    }

    /// <summary>The object class a path is about (its tag in the reference): /api/vms/{id}/vbds → VBD, /api/hosts/{id}/hypervisor → hypervisor.</summary>
    private static string TagOf(string path)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var last = segments.Skip(1).LastOrDefault(s => !s.StartsWith('{')) ?? "api";
        var collection = segments.Length > 1 ? segments[1] : "api";
        return (collection, last) switch
        {
            (_, "vbds") => "VBD",
            (_, "vifs") => "VIF",
            ("hosts", _) when segments.Contains("hypervisor") => "hypervisor",
            ("vms", _) when segments.Contains("history") => "history",
            ("vms", _) => "VM",
            ("vbds", _) => "VBD",
            ("vifs", _) => "VIF",
            ("hosts", _) => "host",
            ("tasks", _) => "task",
            ("messages", _) => "message",
            ("networks", _) => "network",
            ("srs", _) => "SR",
            ("vdis", _) => "VDI",
            ("events", _) => "events",
            ("admin", _) => "admin",
            _ => collection,
        };
    }

    /// <summary>RFC 9457 problem details with xapi's two extensions.</summary>
    private static OpenApiSchema Problem() => new()
    {
        Type = JsonSchemaType.Object,
        Description = "application/problem+json (RFC 9457) with xapi's error `code` and its `params` in xapi's order.",
        Required = new HashSet<string> { "status", "code", "params" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "the xapi error code, e.g. VM_BAD_POWER_STATE" },
            ["params"] = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
            ["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "400 only: every failing field with its messages",
                AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
            },
            ["correlationId"] = new OpenApiSchema { Type = JsonSchemaType.String },
        },
    };
}
