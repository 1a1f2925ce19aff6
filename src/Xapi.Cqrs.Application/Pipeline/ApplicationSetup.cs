using Microsoft.Extensions.DependencyInjection.Extensions;
using FluentValidation;
using MediatR;
using Microsoft.Extensions.DependencyInjection;

namespace Xapi.Cqrs.Application.Pipeline;

public static class ApplicationSetup
{
    /// <summary>
    /// MediatR 5.1.0 (the version the registry here serves) wired into Microsoft's DI by hand: the
    /// mediator, every handler of this assembly, and the validation behavior for every request.
    /// </summary>
    /// <param name="services">The container.</param>
    /// <param name="background">False in a host agent process: the pipeline and handlers without the service's background work (start decisions, retention).</param>
    public static IServiceCollection AddXapiApplication(this IServiceCollection services, bool background = true)
    {
        services.AddTransient<ServiceFactory>(sp => sp.GetService!);
        services.AddTransient<IMediator, Mediator>();
        // Order matters: one span around the whole request, validate once, then (re)decide on concurrency conflicts.
        services.AddTransient(typeof(IPipelineBehavior<,>), typeof(TracingBehavior<,>));
        services.AddTransient(typeof(IPipelineBehavior<,>), typeof(ValidationBehavior<,>));
        services.AddTransient(typeof(IPipelineBehavior<,>), typeof(ConcurrencyRetryBehavior<,>));

        var handlerInterface = typeof(IRequestHandler<,>);
        foreach (var type in typeof(ApplicationSetup).Assembly.GetTypes().Where(t => t is { IsAbstract: false, IsInterface: false }))
        {
            foreach (var contract in type.GetInterfaces().Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == handlerInterface))
            {
                services.AddTransient(contract, type);
            }
        }

        services.AddValidatorsFromAssembly(typeof(ApplicationSetup).Assembly, ServiceLifetime.Singleton, includeInternalTypes: true);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<Vms.StartDecider>();
        if (background)
        {
            services.AddHostedService(sp => sp.GetRequiredService<Vms.StartDecider>());
        }

        services.AddSingleton<Tasks.TaskSignals>();
        services.AddSingleton<Store.ProjectionRebuilder>();
        services.TryAddSingleton(new Vms.RetentionSettings());
        services.AddSingleton<Vms.VmArchive>();
        if (background)
        {
            services.AddHostedService(sp => sp.GetRequiredService<Vms.VmArchive>());
        }

        services.AddSingleton<Admin.AdminProjections.Rebuilds>();
        services.AddSingleton<Store.ICommitObserver>(sp => sp.GetRequiredService<Tasks.TaskSignals>());
        services.AddSingleton<Events.CommitSignal>();
        services.AddSingleton<Store.ICommitObserver>(sp => sp.GetRequiredService<Events.CommitSignal>());
        // Service nodes and agent processes alike: their commits told to the others, the others' heard (LISTEN/NOTIFY).
        services.AddSingleton<Store.CommitNotifications>();
        services.AddSingleton<Store.ICommitObserver>(sp => sp.GetRequiredService<Store.CommitNotifications>());
        services.AddHostedService(sp => sp.GetRequiredService<Store.CommitNotifications>());
        return services;
    }
}
