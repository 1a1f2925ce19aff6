using JasperFx;
using JasperFx.Events;
using JasperFx.Events.Daemon;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Weasel.Core;
using Xapi.Cqrs.Projections;

namespace Xapi.Cqrs.Application.Store;

public sealed record StoreSettings(string ConnectionString, string Schema);

public static class StoreSetup
{
    /// <summary>
    /// The event store: one schema holding events and read models, every event type registered by name,
    /// metadata (correlation, causation, actor header) on, inline projections, and the projection daemon
    /// in Solo mode (HotCold needs a lock type the redirect package lacks; see README).
    /// </summary>
    public static MartenServiceCollectionExtensions.MartenConfigurationExpression AddXapiStore(this IServiceCollection services, StoreSettings settings)
    {
        services.AddScoped<CommandContext>();
        return services.AddMarten(_ => Options(settings))
            .BuildSessionsWith<ActorSessionFactory>(ServiceLifetime.Scoped)
            .ApplyAllDatabaseChangesOnStartup()
            .AddAsyncDaemon(DaemonMode.Solo);
    }

    public static StoreOptions Options(StoreSettings settings)
    {
        var opts = new StoreOptions();
        opts.Connection(settings.ConnectionString);
        opts.DatabaseSchemaName = settings.Schema;
        opts.Events.DatabaseSchemaName = settings.Schema;
        opts.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
        opts.UseSystemTextJsonForSerialization(EnumStorage.AsString, Casing.CamelCase);
        opts.Events.StreamIdentity = StreamIdentity.AsGuid;
        opts.Events.AppendMode = EventAppendMode.Rich;
        opts.Events.MetadataConfig.CorrelationIdEnabled = true;
        opts.Events.MetadataConfig.CausationIdEnabled = true;
        opts.Events.MetadataConfig.HeadersEnabled = true;
        foreach (var (type, name) in EventCatalog.All)
        {
            opts.Events.MapEventType(type, name);
        }

        XapiProjections.Configure(opts);
        return opts;
    }
}
