using Marten;
using Microsoft.Extensions.DependencyInjection;
using Xapi.Cqrs.HostAgent.Hypervisor;

namespace Xapi.Cqrs.HostAgent.Agents;

public static class HostAgentSetup
{
    /// <summary>In-process agents for simulated and qemu hosts, fed by a durable subscription to the log.</summary>
    public static IServiceCollection AddHostAgents(this IServiceCollection services, MartenServiceCollectionExtensions.MartenConfigurationExpression marten, AgentSettings settings)
    {
        services.AddSingleton(settings);
        services.AddSingleton(sp => new HypervisorRegistry(sp.GetService<SimulatorSettings>(), sp.GetService<Hypervisor.Qemu.QemuSettings>())); // no settings: simulated hosts in memory only
        services.AddSingleton<ReportBatcher>();
        services.AddSingleton<LocalAgents>();
        services.AddSingleton<Application.Store.ICommitObserver>(sp => sp.GetRequiredService<LocalAgents>());
        services.AddHostedService(sp => sp.GetRequiredService<LocalAgents>());
        marten.AddSubscriptionWithServices<HostAgentSubscription>(ServiceLifetime.Singleton, o => o.Name = settings.SubscriptionName);
        return services;
    }
}
