using Xapi.Cqrs.Api;

await XapiApp.Build(args).RunAsync();
