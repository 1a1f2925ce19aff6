using System.Diagnostics;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Application.Telemetry;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Application.Pipeline;

/// <summary>
/// One span per request through the pipeline (validation, decision, commit), named after the slice
/// (<c>StartVm.Command</c>, <c>ReportStart.StartedMany</c>), with the correlation id and subject of the caller; a refusal
/// marks the span with its xapi code. Costs nothing when no listener samples the <see cref="XapiTelemetry.Source"/>.
/// </summary>
public sealed class TracingBehavior<TRequest, TResponse>(CommandContext context) : IPipelineBehavior<TRequest, TResponse>
{
    private static readonly string SpanName = typeof(TRequest).DeclaringType is { } slice ? $"{slice.Name}.{typeof(TRequest).Name}" : typeof(TRequest).Name;

    public async Task<TResponse> Handle(TRequest request, CancellationToken cancellationToken, RequestHandlerDelegate<TResponse> next)
    {
        using var activity = XapiTelemetry.Source.StartActivity(SpanName);
        if (activity is null)
        {
            return await next();
        }

        activity.SetTag("xapi.correlation_id", context.CorrelationId);
        activity.SetTag("xapi.subject", context.Subject);
        try
        {
            return await next();
        }
        catch (XapiException x)
        {
            activity.SetStatus(ActivityStatusCode.Error, x.Code);
            activity.SetTag("xapi.code", x.Code);
            throw;
        }
        catch (RequestValidationException v)
        {
            activity.SetStatus(ActivityStatusCode.Error, v.Code);
            activity.SetTag("xapi.code", v.Code);
            throw;
        }
    }
}
